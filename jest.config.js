// The `#herald/*` libraries (package.json "imports") and the workspace
// packages (`@herald/contracts`, `@herald/publisher`, `@herald/client`) mapped
// to their sources, as tsconfig.json's paths do: jest runs the TypeScript
// sources, Node runs the built files.
const swc = [
  '@swc/jest',
  {
    jsc: {
      target: 'es2023',
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
    },
    module: { type: 'es6' },
    sourceMaps: 'inline',
  },
];

export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': swc },
  moduleNameMapper: {
    '^#herald/(.*)$': '<rootDir>/libs/$1.ts',
    '^@herald/publisher$': '<rootDir>/libs/publisher/index.ts',
    '^@herald/client$': '<rootDir>/libs/client/client.ts',
    '^@herald/(.*)$': '<rootDir>/libs/$1.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testMatch: ['<rootDir>/apps/**/*.spec.ts', '<rootDir>/libs/**/*.spec.ts', '<rootDir>/test/**/*.test.ts'],
  modulePathIgnorePatterns: ['<rootDir>/libs/[^/]+/dist/'],
  setupFiles: ['reflect-metadata'],
  testTimeout: 30000,
};
