import { Type, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";

const LogLevel = Type.Union(
  ["fatal", "error", "warn", "info", "debug", "trace", "silent"].map((level) => Type.Literal(level)),
  { default: "info" },
);

export const ConfigSchema = Type.Object({
  PORT: Type.Integer({ minimum: 1, maximum: 65535, default: 3000 }),
  HOST: Type.String({ default: "0.0.0.0" }),
  LOG_LEVEL: LogLevel,
  APP_VERSION: Type.String({ default: "dev" }),
  RATE_LIMIT_MAX: Type.Integer({ minimum: 1, default: 100 }),
  RATE_LIMIT_WINDOW: Type.String({ default: "1 minute" }),
  DOCS_ENABLED: Type.Boolean({ default: true }),
  SHUTDOWN_TIMEOUT_MS: Type.Integer({ minimum: 0, default: 10_000 }),
});

export type Config = Static<typeof ConfigSchema>;

/**
 * Reads configuration from environment variables: drops unknown keys, applies
 * defaults, converts strings to numbers/booleans and fails fast with a readable
 * message when something is invalid.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const value = Value.Convert(ConfigSchema, Value.Default(ConfigSchema, Value.Clean(ConfigSchema, { ...env })));
  if (!Value.Check(ConfigSchema, value)) {
    const problems = [...Value.Errors(ConfigSchema, value)].map((e) => `  ${e.path.slice(1)}: ${e.message}`);
    throw new Error(`Invalid environment configuration:\n${problems.join("\n")}`);
  }
  return value;
}
