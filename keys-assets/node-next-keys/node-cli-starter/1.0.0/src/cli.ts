#!/usr/bin/env node
import { Command } from "commander";
import pc from "picocolors";
import { registerCheck } from "./commands/check.js";

const program = new Command();

program
  .name("envguard")
  .description("Check a .env file against .env.example before you deploy.")
  .version("1.0.0")
  .showHelpAfterError();

registerCheck(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  console.error(pc.red(`envguard: ${message}`));
  process.exitCode = 2;
});
