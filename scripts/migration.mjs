#!/usr/bin/env node
// Runs TypeORM migrations through the compiled ormconfig (dist/ormconfig.js), so the CLI needs
// no TypeScript loader. `run` takes the same advisory lock as the app's start-up.
//   npm run migration:run
//   npm run migration:revert
//   npm run migration:generate -- AddSomething   (writes src/database/migrations/<epoch>-AddSomething.ts)
import { writeFileSync } from 'node:fs';

const [command, name] = process.argv.slice(2);
// ormconfig validates the configuration as the service does; a bad or missing variable is the
// same one line here (the image runs this before the service), not a stack trace.
const { default: dataSource, embedded } = await import('../dist/ormconfig.js').catch((error) => {
  if (error?.name !== 'EnvValidationError') throw error;
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
});
const { runMigrationsLocked } = await import('../dist/src/database/migration-runner.js');

function fail(message) {
  process.stderr.write(`${message}\n`);
  process.exitCode = 1;
}

await dataSource.initialize();
try {
  if (command === 'run') {
    await runMigrationsLocked(dataSource);
  } else if (command === 'revert') {
    await dataSource.undoLastMigration({ transaction: 'each' });
    process.stdout.write('Reverted the last migration\n');
  } else if (command === 'generate') {
    if (!name || !/^[A-Z][A-Za-z0-9]*$/.test(name)) {
      fail('usage: npm run migration:generate -- PascalCaseName');
    } else {
      const sql = await dataSource.driver.createSchemaBuilder().log();
      if (sql.upQueries.length === 0) {
        process.stdout.write('The entities match the schema: nothing to generate\n');
      } else {
        const epoch = Date.now();
        const q = (list) =>
          list.map((x) => `    await q.query(${JSON.stringify(x.query)}${x.parameters ? `, ${JSON.stringify(x.parameters)}` : ''});`).join('\n');
        const file = `src/database/migrations/${epoch}-${name}.ts`;
        writeFileSync(
          file,
          `import type { MigrationInterface, QueryRunner } from 'typeorm';

export class ${name}${epoch} implements MigrationInterface {
  name = '${name}${epoch}';

  async up(q: QueryRunner): Promise<void> {
${q(sql.upQueries)}
  }

  async down(q: QueryRunner): Promise<void> {
${q(sql.downQueries.reverse())}
  }
}
`,
        );
        process.stdout.write(`Wrote ${file}: review it, then add ${name}${epoch} to src/database/migrations/index.ts\n`);
      }
    }
  } else {
    fail('usage: migration.mjs run | revert | generate <Name>');
  }
} finally {
  await dataSource.destroy();
  await embedded?.stop();
}
