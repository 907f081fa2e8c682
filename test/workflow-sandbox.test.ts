import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/**
 * Workflow code must be deterministic: it may import only the Temporal workflow SDK, the pure
 * `@temporalio/common`, and other files of workflows/ (which obey the same rule). Types may come
 * from anywhere, since `import type` leaves nothing in the bundle.
 */
const workflowsDir = path.join(__dirname, '..', 'workflows');
const allowedPackages = new Set(['@temporalio/workflow', '@temporalio/common']);
// Date.now() and Math.random() are deterministic inside the workflow sandbox, so they are allowed.
const forbiddenGlobals = /\b(setTimeout|setInterval|process\.|require\(|fetch\()/;

const files = readdirSync(workflowsDir).filter((f) => f.endsWith('.ts'));

test.each(files)('workflows/%s imports only the workflow SDK and pure workflow modules', (file) => {
  const source = ts.createSourceFile(file, readFileSync(path.join(workflowsDir, file), 'utf8'), ts.ScriptTarget.ES2022, true);
  const offending: string[] = [];
  for (const statement of source.statements) {
    if (!ts.isImportDeclaration(statement) && !ts.isExportDeclaration(statement)) continue;
    const specifier = statement.moduleSpecifier;
    if (!specifier || !ts.isStringLiteral(specifier)) continue;
    const typeOnly = ts.isImportDeclaration(statement) ? statement.importClause?.isTypeOnly === true : statement.isTypeOnly;
    const name = specifier.text;
    const sameFolder = name.startsWith('./') && !name.slice(2).includes('/');
    if (!typeOnly && !sameFolder && !allowedPackages.has(name)) offending.push(name);
  }
  expect(offending).toEqual([]);
});

test.each(files)('workflows/%s uses no timers, clocks or I/O of its own', (file) => {
  const code = readFileSync(path.join(workflowsDir, file), 'utf8')
    .split('\n')
    .filter((line) => !/^\s*(\/\/|\*|\/\*)/.test(line))
    .join('\n');
  expect(code).not.toMatch(forbiddenGlobals);
});
