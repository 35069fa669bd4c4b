/**
 * Most characters of client-supplied text repeated back in an error, a manifest or an API body:
 * enough to recognise a row or a value, never the 50 MB line that caused the error.
 */
export const MAX_ECHO_CHARS = 1_000;

/** `text`, or its first `max` characters and a note of how many were left out. */
export function boundedEcho(text: string, max = MAX_ECHO_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}
