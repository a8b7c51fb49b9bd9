/** `npm run docs:generate`: writes docs/asyncapi.json from the op registry's schemas. */
import { writeFileSync } from 'node:fs';
import { renderAsyncApi } from '../src/docs/asyncapi-document.js';

writeFileSync(new URL('../docs/asyncapi.json', import.meta.url), renderAsyncApi());
console.log('wrote docs/asyncapi.json');
