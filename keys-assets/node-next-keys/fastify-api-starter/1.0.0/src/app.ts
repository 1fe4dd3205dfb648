import Fastify, { type FastifyServerOptions } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { healthRoutes } from "./routes/health.js";
import { NotesRepository, notesRoutes } from "./routes/notes.js";

export interface AppOptions {
  logger?: FastifyServerOptions["logger"];
  notes?: NotesRepository;
}

export async function buildApp(options: AppOptions = {}) {
  const app = Fastify({
    logger: options.logger ?? false,
    ajv: { customOptions: { removeAdditional: "all", coerceTypes: true } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  const notes = options.notes ?? new NotesRepository();

  await app.register(healthRoutes);
  await app.register(notesRoutes, { prefix: "/notes", repository: notes });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ statusCode: 404, error: "Not Found", message: `Route ${request.method} ${request.url} not found` });
  });

  return app;
}

export type App = Awaited<ReturnType<typeof buildApp>>;
