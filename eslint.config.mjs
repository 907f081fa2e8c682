// Lint: run by `npm test` (pretest). Type-aware, so that a promise nobody awaits is caught, and with a
// boundary around workflows/: workflow code runs in Temporal's deterministic sandbox, where Node
// built-ins, I/O clients and sources of randomness or time of their own have no place.
import { builtinModules } from 'node:module';
import tseslint from 'typescript-eslint';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

export default tseslint.config(
  { ignores: ['node_modules/**', 'src/api/generated/**', 'bench/results/**', 'dist/**', '**/*.js', '**/*.mjs'] },
  {
    files: ['**/*.ts'],
    languageOptions: { parser: tseslint.parser, parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'workflow code runs in a deterministic sandbox: no Node built-ins' })),
          patterns: [
            {
              group: [
                'undici',
                'mongodb',
                'pino',
                'pino-*',
                'nodemailer',
                'ulidx',
                'uuid',
                'lru-cache',
                'ms',
                '@temporalio/client',
                '@temporalio/worker',
                '@temporalio/activity',
              ],
              message: 'I/O, clocks and randomness belong in activities, not in workflow code',
            },
            { group: ['../src/*', '../src/**'], message: 'workflow code may import only the workflow SDK and pure modules in workflows/' },
            { group: ['../activities', '../activities/*'], allowTypeImports: true, message: 'workflows import only the types of activities' },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'setTimeout', message: 'use sleep() or condition() from @temporalio/workflow' },
        { name: 'setInterval', message: 'use sleep() from @temporalio/workflow' },
      ],
    },
  },
);
