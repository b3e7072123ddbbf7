// Runs once before the reliability specs: they need a real PostgreSQL server (several processes
// sharing one database, pg_terminate_backend), and the built service they start as processes.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import process from 'node:process';

export default function globalSetup() {
  if (!process.env.TEST_DATABASE_URL) {
    throw new Error(
      'The reliability suite needs a real PostgreSQL server: set TEST_DATABASE_URL, e.g. ' +
        'TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run test:reliability',
    );
  }
  try {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  } catch (error) {
    // tsc still emits on type errors; `npm run build` (a CI step of its own) is where they fail.
    // Only a missing build stops the suite here.
    if (!existsSync('dist/src/main.js')) throw error;
    process.stderr.write('\nreliability: tsc reported errors (above); running the emitted build\n');
  }
}
