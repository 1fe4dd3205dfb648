import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";

const startedAt = Date.now();

export const healthRoutes: FastifyPluginAsyncTypebox<{ version: string }> = async (app, { version }) => {
  // Liveness: the process is up. Never rate limited so orchestrators can always probe it.
  app.get(
    "/health",
    {
      config: { rateLimit: false },
      schema: {
        tags: ["ops"],
        response: {
          200: Type.Object({ status: Type.Literal("ok"), uptimeSeconds: Type.Number(), version: Type.String() }),
        },
      },
    },
    async () => ({
      status: "ok" as const,
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      version,
    }),
  );

  // Readiness: the server has finished booting and is not shutting down.
  // Add checks for your database or downstream services here.
  let closing = false;
  app.addHook("onClose", async () => {
    closing = true;
  });

  app.get(
    "/ready",
    {
      config: { rateLimit: false },
      schema: {
        tags: ["ops"],
        response: {
          200: Type.Object({ ready: Type.Literal(true) }),
          503: Type.Object({ ready: Type.Literal(false) }),
        },
      },
    },
    async (_request, reply) => (closing ? reply.code(503).send({ ready: false }) : { ready: true as const }),
  );
};
