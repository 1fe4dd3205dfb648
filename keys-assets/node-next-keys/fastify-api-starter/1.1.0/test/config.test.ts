import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";

describe("loadConfig", () => {
  it("applies defaults and converts types", () => {
    const config = loadConfig({ PORT: "8080", DOCS_ENABLED: "false", UNRELATED: "ignored" });
    expect(config.PORT).toBe(8080);
    expect(config.DOCS_ENABLED).toBe(false);
    expect(config.RATE_LIMIT_MAX).toBe(100);
    expect(config).not.toHaveProperty("UNRELATED");
  });

  it("fails fast with a readable message", () => {
    expect(() => loadConfig({ PORT: "not-a-port", LOG_LEVEL: "loud" })).toThrow(/PORT/);
  });
});
