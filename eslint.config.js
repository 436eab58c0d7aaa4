// @ts-check
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

/*
 * Lint runs inside `npm test` (before tap) and must report nothing: type-aware typescript-eslint rules
 * catch floating promises, unsafe `any` flows and unnecessary conditions that tsc lets through.
 */
export default tseslint.config(
  // test/openapi-client/ is compiled against a client generated at test time, in its own temporary project.
  { ignores: ['dist/', 'coverage/', 'node_modules/', '.tap/', 'test/openapi-client/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname }
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        // tap's t.test() returns a promise that tap itself awaits: the idiom of every test file.
        { allowForKnownSafePromises: [{ from: 'package', name: 'PromiseWithSubtest', package: '@tapjs/core' }] }
      ],
      // Fastify hooks and plugins, and tap callbacks, are async by contract (the promise is how they say
      // they are done), whether or not their body awaits anything.
      '@typescript-eslint/require-await': 'off',
      // Abort reasons and caught errors are passed on as they came (they are errors already); a literal is still refused.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingAny: true, allowThrowingUnknown: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }]
    }
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { ...tseslint.configs.disableTypeChecked.languageOptions, globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } }
  },
  {
    files: ['**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { ...tseslint.configs.disableTypeChecked.languageOptions, sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable' } },
    rules: { ...tseslint.configs.disableTypeChecked.rules, '@typescript-eslint/no-require-imports': 'off' }
  }
)
