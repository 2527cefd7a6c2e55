// ESLint flat config, run by `npm run lint` (hence by .ci/run).
// @eslint/js recommended + typescript-eslint recommended, without type information: the
// type-checked presets build a whole TypeScript program on every lint run (minutes on two shared
// cores), and types are already checked strictly by `tsc` (npm run build, tsc -p test). These
// presets catch what tsc does not: unused code, expressions with no effect, useless assignments,
// errors rethrown without their cause, `any` leaking into production code.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

const nodeGlobals = Object.fromEntries(
  [
    'AbortController',
    'AbortSignal',
    'Buffer',
    'TextDecoder',
    'TextEncoder',
    'URL',
    'clearInterval',
    'clearTimeout',
    'console',
    'fetch',
    'performance',
    'process',
    'queueMicrotask',
    'setImmediate',
    'setInterval',
    'setTimeout',
    'structuredClone',
  ].map((name) => [name, 'readonly']),
)

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'dist-test/',
      'node_modules/',
      'bench-results/',
      'test/fixtures/',
      'examples/tiny-cnn/',
      'oclif.manifest.json',
      'test/.cache/',
      '.amps/',
      '.amps-cache/',
      'docs/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {ecmaVersion: 2022, sourceType: 'module', globals: nodeGlobals},
    rules: {
      // `const {dropped: _x, ...rest} = o` is how the code leaves a field out of a copy
      '@typescript-eslint/no-unused-vars': ['error', {ignoreRestSiblings: true}],
    },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: {sourceType: 'commonjs', globals: {...nodeGlobals, module: 'writable', require: 'readonly', __dirname: 'readonly'}},
  },
  {
    // Tests read the CLI's --json output and the AWS SDK inputs a mock receives (untyped JSON),
    // and build deliberately malformed plans/profiles/models to check the validators: `any` is
    // the honest type there. Production code (src, solver, deploy) keeps the rule.
    files: ['test/**/*.ts'],
    rules: {'@typescript-eslint/no-explicit-any': 'off'},
  },
)
