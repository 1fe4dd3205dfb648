import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import pc from "picocolors";
import { parseDotenv } from "../lib/dotenv.js";

export interface EnvReport {
  missing: string[];
  empty: string[];
  undocumented: string[];
}

/** Pure comparison, kept separate from IO so it is easy to test. */
export function compareEnv(env: Map<string, string>, example: Map<string, string>): EnvReport {
  const missing: string[] = [];
  const empty: string[] = [];
  for (const key of example.keys()) {
    if (!env.has(key)) missing.push(key);
    else if (env.get(key) === "") empty.push(key);
  }
  const undocumented = [...env.keys()].filter((key) => !example.has(key));
  return { missing: missing.sort(), empty: empty.sort(), undocumented: undocumented.sort() };
}

export function isFailure(report: EnvReport, strict: boolean): boolean {
  return report.missing.length > 0 || report.empty.length > 0 || (strict && report.undocumented.length > 0);
}

async function readEnvFile(path: string): Promise<Map<string, string>> {
  try {
    return parseDotenv(await readFile(path, "utf8"));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(code === "ENOENT" ? `file not found: ${path}` : `cannot read ${path}: ${String(error)}`);
  }
}

interface CheckOptions {
  env: string;
  example: string;
  strict: boolean;
  json: boolean;
}

export function registerCheck(program: Command): void {
  program
    .command("check")
    .description("compare an env file with its example and report missing, empty and undocumented keys")
    .option("-e, --env <path>", "env file to check", ".env")
    .option("-x, --example <path>", "example file listing required keys", ".env.example")
    .option("-s, --strict", "fail on keys that are not in the example", false)
    .option("--json", "print a machine-readable report", false)
    .action(async (options: CheckOptions) => {
      const [env, example] = await Promise.all([readEnvFile(options.env), readEnvFile(options.example)]);
      const report = compareEnv(env, example);
      const failed = isFailure(report, options.strict);

      if (options.json) {
        console.log(JSON.stringify({ ok: !failed, ...report }, null, 2));
      } else {
        printReport(report, options);
      }
      if (failed) process.exitCode = 1;
    });
}

function printReport(report: EnvReport, options: CheckOptions): void {
  const section = (title: string, keys: string[], paint: (s: string) => string) => {
    if (keys.length === 0) return;
    console.log(paint(`${title} (${keys.length})`));
    for (const key of keys) console.log(`  - ${key}`);
  };

  section(`Missing in ${options.env}`, report.missing, pc.red);
  section(`Empty in ${options.env}`, report.empty, pc.yellow);
  section(`Not documented in ${options.example}`, report.undocumented, options.strict ? pc.red : pc.dim);

  if (!isFailure(report, options.strict)) {
    console.log(pc.green(`✔ ${options.env} satisfies ${options.example}`));
  }
}
