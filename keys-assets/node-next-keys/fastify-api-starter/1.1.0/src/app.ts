import Fastify, { type FastifyServerOptions } from "fastify";
import rateLimit from "@fastify/rate-limit";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { loadConfig, type Config } from "./config.js";
import { healthRoutes } from "./routes/health.js";
import { NotesRepository, notesRoutes } from "./routes/notes.js";

export interface AppOptions {
  logger?: FastifyServerOptions["logger"];
  config?: Partial<Config>;
  notes?: NotesRepository;
}

export async function buildApp(options: AppOptions = {}) {
  const config: Config = { ...loadConfig({}), ...options.config };

  const app = Fastify({
    logger: options.logger ?? false,
    ajv: { customOptions: { removeAdditional: "all", coerceTypes: true } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: { title: "Notes API", version: config.APP_VERSION },
      tags: [
        { name: "notes", description: "Create and manage notes" },
        { name: "ops", description: "Health and readiness probes" },
      ],
    },
  });
  if (config.DOCS_ENABLED) {
    await app.register(swaggerUi, { routePrefix: "/docs" });
  }

  await app.register(rateLimit, {
    max: config.RATE_LIMIT_MAX,
    timeWindow: config.RATE_LIMIT_WINDOW,
  });

  const notes = options.notes ?? new NotesRepository();
  await app.register(healthRoutes, { version: config.APP_VERSION });
  await app.register(notesRoutes, { prefix: "/notes", repository: notes });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ statusCode: 404, error: "Not Found", message: `Route ${request.method} ${request.url} not found` });
  });

  return app;
}

export type App = Awaited<ReturnType<typeof buildApp>>;
