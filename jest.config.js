// Nest 12 ships ESM only, so Jest runs in ESM mode (npm test passes --experimental-vm-modules).
// Jest's module runtime still cannot require() an ES module from CommonJS on Node 20, hence the
// override in package.json: @fastify/static gets content-disposition 2.0.1, the last CommonJS
// release (3.x has the same API as an ES module).
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  roots: ['<rootDir>/src', '<rootDir>/tools', '<rootDir>/test'],
  testMatch: ['**/*.spec.ts', '**/*.e2e-spec.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/', '\\.reliability-spec\\.ts$'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }],
  },
  testTimeout: 30000,
  maxWorkers: 2,
};
