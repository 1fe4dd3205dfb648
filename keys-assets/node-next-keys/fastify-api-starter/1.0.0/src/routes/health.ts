import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";

const startedAt = Date.now();

export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    "/health",
    {
      schema: {
        response: {
          200: Type.Object({
            status: Type.Literal("ok"),
            uptimeSeconds: Type.Number(),
            version: Type.String(),
          }),
        },
      },
    },
    async () => ({
      status: "ok" as const,
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      version: process.env.APP_VERSION ?? "dev",
    }),
  );
};
