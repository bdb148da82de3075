// GraphQL-over-HTTP conformance: runs graphql-http's server audits against a
// running gateway and prints every audit that is not ok.
//
//   dir=$(mktemp -d) && (cd "$dir" && npm init -y && npm install graphql graphql-http)
//   cp bench/http-audit.mjs "$dir" && node "$dir/http-audit.mjs" http://127.0.0.1:8080/graphql [KEY]
//
// (Copied next to its node_modules because ES modules resolve imports from
// the script's own folder.)
import { serverAudits } from 'graphql-http';
const url = process.argv[2];
// The key goes on every request the audits send (the demo's admin key by default).
const key = process.argv[3] ?? 'shm_demo_admin';
const fetchFn = (input, init = {}) =>
  fetch(input, { ...init, headers: { ...Object.fromEntries(new Headers(init.headers)), authorization: `Bearer ${key}` } });
let pass = 0, warn = 0, fail = 0;
for (const audit of serverAudits({ url, fetchFn })) {
  const r = await audit.fn();
  if (r.status === 'ok') pass++;
  else { if (r.status === 'warn') warn++; else fail++; console.log(r.status, audit.id, audit.name, '-', r.reason); }
}
console.log(`ok ${pass}, warn ${warn}, error ${fail}`);
