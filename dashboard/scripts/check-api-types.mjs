// Fails when src/lib/api/schema.d.ts is not what openapi-typescript makes of the committed
// OpenAPI document (functions/api_docs/openapi.json): run `npm run generate:api` after
// `make openapi`.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dir = mkdtempSync(join(tmpdir(), "crm-api-types-"));
try {
  const fresh = join(dir, "schema.d.ts");
  execFileSync(
    "npx",
    ["--no-install", "openapi-typescript", "../functions/api_docs/openapi.json", "-o", fresh],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  if (readFileSync(fresh, "utf-8") !== readFileSync("src/lib/api/schema.d.ts", "utf-8")) {
    console.error(
      "src/lib/api/schema.d.ts is stale: run `npm run generate:api` in dashboard/ and commit it",
    );
    process.exit(1);
  }
  console.log("typed API client: up to date with functions/api_docs/openapi.json");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
