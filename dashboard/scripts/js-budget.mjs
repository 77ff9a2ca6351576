// The JavaScript a first visit downloads before any route chunk: the entry script and the
// chunks index.html preloads, gzipped (level 9, as CloudFront's compression roughly gives).
// Fails above the budget (250 KB, issue 13).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const BUDGET_KB = 250;
const html = readFileSync("dist/index.html", "utf-8");
const files = [
  ...html.matchAll(/<script[^>]+src="\/app\/([^"]+\.js)"/g),
  ...html.matchAll(/<link[^>]+rel="modulepreload"[^>]+href="\/app\/([^"]+\.js)"/g),
].map((match) => match[1]);
let total = 0;
for (const file of new Set(files)) {
  const size = gzipSync(readFileSync(join("dist", file)), { level: 9 }).length;
  total += size;
  console.log(`${(size / 1024).toFixed(1).padStart(7)} KB  ${file}`);
}
console.log(`initial JS (gzip): ${(total / 1024).toFixed(1)} KB, budget ${BUDGET_KB} KB`);
if (total > BUDGET_KB * 1024) process.exit(1);
