import { access, mkdir } from "node:fs/promises";
import path from "node:path";
import { UnrecoverableError } from "bullmq";
import sharp from "sharp";
import type { JobData } from "../queues.js";

export interface ThumbnailResult {
  outputs: { width: number; path: string; bytes: number }[];
}

/** Resizes one image into WebP variants; CPU-bound, so keep its concurrency low. */
export async function generateThumbnails(
  { inputPath, widths }: JobData<"image.thumbnails">,
  reportProgress: (percent: number) => Promise<void>,
  outputDir = process.env.OUTPUT_DIR ?? "./output",
): Promise<ThumbnailResult> {
  try {
    await access(inputPath);
  } catch {
    throw new UnrecoverableError(`input image not found: ${inputPath}`);
  }
  await mkdir(outputDir, { recursive: true });

  const base = path.parse(inputPath).name;
  const outputs: ThumbnailResult["outputs"] = [];
  for (const [index, width] of widths.entries()) {
    const target = path.join(outputDir, `${base}-${width}w.webp`);
    const info = await sharp(inputPath)
      .rotate()
      .resize({ width, withoutEnlargement: true })
      .webp({ quality: 80 })
      .toFile(target);
    outputs.push({ width: info.width, path: target, bytes: info.size });
    await reportProgress(Math.round(((index + 1) / widths.length) * 100));
  }
  return { outputs };
}
