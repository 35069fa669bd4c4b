/** Request limits; defaults fit a Lambda behind API Gateway (6 MB synchronous payload). */
export interface ProtocolLimits {
  /** Most instances (rows) in one request. @default 1000 */
  readonly maxBatchRows: number;
  /** Largest request body in bytes. @default 6291456 (6 MiB) */
  readonly maxBodyBytes: number;
}

export const DEFAULT_LIMITS: ProtocolLimits = { maxBatchRows: 1000, maxBodyBytes: 6 * 1024 * 1024 };
