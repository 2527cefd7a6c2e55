import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Two cores: tfjs-heavy suites run one file per core.
    maxWorkers: 2,
  },
})
