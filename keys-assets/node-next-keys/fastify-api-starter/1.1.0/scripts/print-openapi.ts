// Writes the OpenAPI document to stdout, e.g. `npm run openapi > openapi.json`,
// so client generators and contract tests can run without starting the server.
import { buildApp } from "../src/app.js";

const app = await buildApp({ config: { DOCS_ENABLED: false } });
await app.ready();
process.stdout.write(JSON.stringify(app.swagger(), null, 2) + "\n");
await app.close();
