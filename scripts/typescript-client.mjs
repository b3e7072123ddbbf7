#!/usr/bin/env node
// The typed client in clients/typescript/ is generated from the code, never edited by hand:
//   node scripts/typescript-client.mjs generate   (npm run client:generate)
//     writes openapi.json (the document /docs-json serves, from the built app on an in-memory
//     database) and schema.d.ts (its types, by openapi-typescript) into clients/typescript/.
//   node scripts/typescript-client.mjs check      (npm run client:check; .ci/run)
//     generates both into a temporary folder and fails, naming the files, when the committed
//     ones differ: the document changed and `npm run client:generate` was not run.
// Both expect a build (dist/); the npm scripts run `npm run build` first.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLIENT = join(ROOT, 'clients', 'typescript');
const FILES = ['openapi.json', 'schema.d.ts'];

function generate(dir) {
  const run = (args) => execFileSync(process.execPath, args, { cwd: ROOT, stdio: 'inherit' });
  run([join(ROOT, 'dist', 'src', 'openapi', 'write-openapi.cli.js'), join(dir, 'openapi.json')]);
  // openapi-typescript lints the document itself and prints the three findings listed in
  // .redocly.lint-ignore.yaml as warnings (it does not read that file); `npm run openapi:lint`
  // is the lint that counts.
  run([
    join(ROOT, 'node_modules', 'openapi-typescript', 'bin', 'cli.js'),
    join(dir, 'openapi.json'),
    '--output',
    join(dir, 'schema.d.ts'),
    // A default is the server's to fill in: the field stays optional in what a caller sends.
    '--default-non-nullable=false',
  ]);
}

const command = process.argv[2];
if (command === 'generate') {
  generate(CLIENT);
} else if (command === 'check') {
  const temp = mkdtempSync(join(tmpdir(), 'client-check-'));
  try {
    generate(temp);
    const stale = FILES.filter((file) => {
      const committed = join(CLIENT, file);
      return (
        !existsSync(committed) ||
        readFileSync(committed, 'utf8') !== readFileSync(join(temp, file), 'utf8')
      );
    });
    if (stale.length > 0) {
      const names = stale.map((f) => relative(ROOT, join(CLIENT, f))).join(', ');
      process.stderr.write(
        `client-check: ${names} differ from what the code generates. The API changed and the ` +
          'typed client was not regenerated: run `npm run client:generate` and commit the result.\n',
      );
      process.exitCode = 1;
    } else {
      process.stdout.write(`client-check: ${FILES.join(' and ')} match the code\n`);
    }
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
} else {
  process.stderr.write('usage: node scripts/typescript-client.mjs generate|check\n');
  process.exitCode = 2;
}
