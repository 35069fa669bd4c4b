import { z } from 'zod';

/**
 * A model's name is a lowercase DNS label (a-z, 0-9 and inner '-', at most 63 characters): it
 * becomes an S3 prefix, a URL path segment, part of SageMaker endpoint and CloudFormation names,
 * and the strictest of those decides. One pattern, so that a name one layer accepts every other does.
 */
export const MODEL_NAME_PATTERN_SOURCE = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';

export const MODEL_NAME_PATTERN = new RegExp(`^${MODEL_NAME_PATTERN_SOURCE}$`);

export const ModelNameSchema = z.string().regex(MODEL_NAME_PATTERN, 'must be a lowercase DNS-safe name (a-z, 0-9, -; at most 63 characters)');
