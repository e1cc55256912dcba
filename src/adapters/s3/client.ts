import { S3Client } from "@aws-sdk/client-s3";

export interface S3ClientSettings {
  region: string;
  /** A non-AWS endpoint (MinIO, s3rver, LocalStack); unset for AWS itself. */
  endpoint?: string | undefined;
  forcePathStyle?: boolean | undefined;
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
}

/**
 * The one place an S3 client is built. For a custom endpoint the SDK's default request checksums
 * are turned off (`WHEN_REQUIRED`): S3-compatible servers that don't understand the trailing
 * checksum of a streamed upload store the aws-chunked framing as the object body.
 */
export function createS3Client(settings: S3ClientSettings): S3Client {
  const custom = settings.endpoint !== undefined && settings.endpoint !== "";
  const client = new S3Client({
    region: settings.region,
    ...(custom
      ? {
          endpoint: settings.endpoint,
          forcePathStyle: settings.forcePathStyle ?? true,
          requestChecksumCalculation: "WHEN_REQUIRED",
          responseChecksumValidation: "WHEN_REQUIRED",
        }
      : { forcePathStyle: settings.forcePathStyle ?? false }),
    ...(settings.accessKeyId && settings.secretAccessKey
      ? { credentials: { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey } }
      : // s3rver accepts any signature; without explicit or environment credentials the SDK would
        // fail looking for AWS ones, so a local endpoint gets placeholder keys.
        custom && !process.env.AWS_ACCESS_KEY_ID
        ? { credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } }
        : {}),
  });
  // The client's logger is the SDK's no-op one, yet its logger middleware still copies every
  // command's input and output through the schema's sensitive-data filter: ~10% of a HeadObject's
  // CPU for nothing logged.
  client.middlewareStack.remove("loggerMiddleware");
  return client;
}
