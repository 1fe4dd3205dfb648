import { access, mkdir } from "node:fs/promises";
import path from "node:path";
import { UnrecoverableError, type Job } from "bullmq";
import sharp from "sharp";

export interface ThumbnailData {
  inputPath: string;
  widths: number[];
}

export interface ThumbnailResult {
  outputs: { width: number; path: string; bytes: number }[];
}

/** Resizes one image into WebP variants; CPU-bound, so keep its concurrency low. */
export async function generateThumbnails(
  job: Job<ThumbnailData, ThumbnailResult>,
  outputDir = process.env.OUTPUT_DIR ?? "./output",
): Promise<ThumbnailResult> {
  const { inputPath, widths } = job.data;
  try {
    await access(inputPath);
  } catch {
    throw new UnrecoverableError(`input image not found: ${inputPath}`);
  }
  const base = path.parse(inputPath).name;
  await mkdir(outputDir, { recursive: true });

  const outputs: ThumbnailResult["outputs"] = [];
  for (const [index, width] of widths.entries()) {
    const target = path.join(outputDir, `${base}-${width}w.webp`);
    const info = await sharp(inputPath)
      .rotate() // respect EXIF orientation
      .resize({ width, withoutEnlargement: true })
      .webp({ quality: 80 })
      .toFile(target);
    outputs.push({ width: info.width, path: target, bytes: info.size });
    await job.updateProgress(Math.round(((index + 1) / widths.length) * 100));
  }
  return { outputs };
}
