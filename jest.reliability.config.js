// The reliability suite (issue #8): crash, fault, database-drop, multi-instance and bad-input
// cases against the real PostgreSQL server. `npm run test:reliability`, TEST_DATABASE_URL required.
// Specs run one at a time: each starts several service processes on a 2-core machine.
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  roots: ['<rootDir>/test/reliability'],
  testMatch: ['**/*.reliability-spec.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }],
  },
  globalSetup: '<rootDir>/test/reliability/global-setup.mjs',
  testTimeout: 120000,
  maxWorkers: 1,
};
