import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import en from "./locales/en.json";
import ptBR from "./locales/pt-BR.json";

function flatten(tree: object, prefix = ""): string[] {
  return Object.entries(tree).flatMap(([key, value]) =>
    typeof value === "object" && value !== null ? flatten(value, `${prefix}${key}.`) : [`${prefix}${key}`],
  );
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.tsx?$/.test(name) && !name.includes(".test.") ? [path] : [];
  });
}

describe("translations", () => {
  it("have the same keys in pt-BR and en", () => {
    expect(flatten(en).sort()).toEqual(flatten(ptBR).sort());
  });

  it("have every literal key the code asks for", () => {
    const known = new Set(flatten(ptBR));
    const root = join(import.meta.dirname, "..", "..");
    const missing: string[] = [];
    for (const file of sources(root)) {
      for (const match of readFileSync(file, "utf-8").matchAll(/\bt\(\s*"([\w.-]+)"/g)) {
        const key = match[1] as string;
        if (!known.has(key) && !known.has(`${key}_one`)) missing.push(`${key} (${file})`);
      }
    }
    expect(missing).toEqual([]);
  });
});
