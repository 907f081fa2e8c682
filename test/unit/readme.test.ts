import { readFileSync } from 'node:fs';
import path from 'node:path';
import { INDEXES } from '../../src/db/mongo';

const readme = readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');

test('the README lists every index the data layer creates, and no other', () => {
  const section = readme.slice(readme.indexOf('## MongoDB access'));
  const listed = [...section.matchAll(/^\| (\w+) \| `(\{[^`]+\})` \|/gm)].map((m) => `${m[1]} ${m[2]}`);
  const created = INDEXES.map((i) => `${i.collection} ${JSON.stringify(i.key).replace(/"/g, '').replace(/,/g, ', ')}`);
  expect(listed.sort()).toEqual(created.sort());
});

test('the README gives the test command that CI runs', () => {
  const ci = readFileSync(path.join(__dirname, '..', '..', '.ci', 'run'), 'utf8');
  expect(readme).toMatch(/^npm test\b/m);
  expect(ci).toMatch(/^npm test\b/m);
});
