import { describe, expect, it } from 'vitest';
import { boundedEcho, MAX_ECHO_CHARS } from '../../core/data/echo';
import { errorResponse, ProtocolError } from '../../core/protocol/errors';

/** Text a client sent is repeated back in errors only up to a bound, whatever the check that quoted it. */

describe('a bounded echo', () => {
  it('keeps text within the bound as it is', () => {
    expect(boundedEcho('age must be a number')).toBe('age must be a number');
  });

  it('cuts longer text and says how much was left out', () => {
    const echo = boundedEcho('x'.repeat(MAX_ECHO_CHARS + 500));

    expect(echo).toBe(`${'x'.repeat(MAX_ECHO_CHARS)}… (500 more characters)`);
  });
});

describe('an API error body', () => {
  it('stays small when its message and field quote a 1 MB value', () => {
    const huge = 'v'.repeat(1 << 20);

    const response = errorResponse(new ProtocolError(400, 'invalid_feature', `feature "age" must be a number, got ${huge}`, { field: huge }), 'request-1');

    expect(response.body.length).toBeLessThan(2_000);
    expect(JSON.parse(response.body)).toMatchObject({ code: 'invalid_feature', request_id: 'request-1', error: expect.stringMatching(/^feature "age" must be a number, got v+… \(\d+ more characters\)$/) });
  });
});
