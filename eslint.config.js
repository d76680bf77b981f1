// Lint rules for kiln's TypeScript (src, test, bench) and its node scripts. The rules are type-aware (they read
// tsconfig.test.json), so they catch what the compiler lets through: a promise nobody awaits (its rejection is
// unhandled and its work races the next step), a promise passed where a callback's result is ignored, an await
// on a value that is not a promise, and names that are declared but never used.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'native/**', 'fixtures/**', 'bench/results/**'] },
  {
    files: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'bench/**/*.mts', 'scripts/**/*.ts', 'scripts/**/*.mjs'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: {
        project: './tsconfig.eslint.json',
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      // `void p` stays allowed as the explicit "not awaited"; say why beside it, and end with .catch unless p
      // cannot reject (node ends the process on an unhandled rejection).
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      // A leading underscore marks a name kept on purpose (a positional parameter an interface requires, a
      // destructured field dropped from a rest object).
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          args: 'after-used',
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrors: 'all',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
    },
  },
);
