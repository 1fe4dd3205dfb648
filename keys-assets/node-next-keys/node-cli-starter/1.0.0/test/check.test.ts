import { describe, expect, it } from "vitest";
import { compareEnv, isFailure } from "../src/commands/check.js";
import { parseDotenv } from "../src/lib/dotenv.js";

describe("parseDotenv", () => {
  it("parses plain, exported, quoted and commented entries", () => {
    const env = parseDotenv(
      [
        "# database",
        "DATABASE_URL=postgres://localhost/app",
        "export NODE_ENV=production",
        'GREETING="hello # world"',
        "SINGLE='raw\\n'",
        "PORT=3000 # inline comment",
        'MULTI="a\\nb"',
        "EMPTY=",
        "not a valid line",
      ].join("\n"),
    );

    expect(env.get("DATABASE_URL")).toBe("postgres://localhost/app");
    expect(env.get("NODE_ENV")).toBe("production");
    expect(env.get("GREETING")).toBe("hello # world");
    expect(env.get("SINGLE")).toBe("raw\\n");
    expect(env.get("PORT")).toBe("3000");
    expect(env.get("MULTI")).toBe("a\nb");
    expect(env.get("EMPTY")).toBe("");
    expect(env.size).toBe(7);
  });

  it("handles CRLF line endings", () => {
    expect(parseDotenv("A=1\r\nB=2\r\n").get("B")).toBe("2");
  });
});

describe("compareEnv", () => {
  const example = parseDotenv("DATABASE_URL=\nSTRIPE_KEY=\nPORT=3000\n");

  it("reports missing, empty and undocumented keys", () => {
    const env = parseDotenv("DATABASE_URL=postgres://db\nPORT=\nDEBUG=1\n");
    const report = compareEnv(env, example);

    expect(report).toEqual({ missing: ["STRIPE_KEY"], empty: ["PORT"], undocumented: ["DEBUG"] });
    expect(isFailure(report, false)).toBe(true);
  });

  it("only fails on undocumented keys in strict mode", () => {
    const env = parseDotenv("DATABASE_URL=x\nSTRIPE_KEY=y\nPORT=1\nEXTRA=1\n");
    const report = compareEnv(env, example);

    expect(isFailure(report, false)).toBe(false);
    expect(isFailure(report, true)).toBe(true);
  });
});
