// The admin console in a real browser (#17): `npm run test:console` (builds first). Playwright
// (playwright-core) drives Debian's chromium at /usr/bin/chromium (CHROMIUM_PATH overrides);
// kept out of `npm test`, which must pass on a machine without a browser. The spec starts the
// built service in sandbox mode, as `npm start` does.
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  roots: ['<rootDir>/test/console'],
  testMatch: ['**/*.console-spec.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }],
  },
  testTimeout: 120000,
  maxWorkers: 1,
};
