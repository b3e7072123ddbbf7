import { Logger } from '@nestjs/common';
import type { SchedulerRegistry } from '@nestjs/schedule';
import { CronJob } from 'cron';

/**
 * Registers a cron job whose expression comes from config (the @Cron decorator needs a
 * constant). Runs never overlap, and each run catches and logs its own errors.
 */
export function registerCronJob(
  registry: SchedulerRegistry,
  name: string,
  expression: string,
  run: () => Promise<unknown>,
): CronJob {
  const logger = new Logger(name);
  let running = false;
  const job = CronJob.from({
    cronTime: expression,
    onTick: async () => {
      if (running) return;
      running = true;
      try {
        await run();
      } catch (error) {
        logger.error(`${name} failed: ${error instanceof Error ? error.message : String(error)}`);
      } finally {
        running = false;
      }
    },
    start: false,
  });
  registry.addCronJob(name, job as never);
  job.start();
  return job;
}
