/**
 * Faults that no retry of the same activity can fix. Activities throw them as non-retryable
 * `ApplicationFailure`s of these types, and every activity proxy lists them, so a wrong encryption key
 * fails an attempt at once instead of retrying the activity for ever. Pure: shared by workflows and activities.
 */
export const NON_RETRYABLE_FAILURES = {
  /** An endpoint's signing secret cannot be decrypted: HOOKFLOW_ENCRYPTION_KEY is not the key it was sealed with. */
  SECRET_UNREADABLE: 'SECRET_UNREADABLE',
  /** A stored document does not have the shape this version expects. */
  INVALID_STORED_DOCUMENT: 'INVALID_STORED_DOCUMENT',
} as const;

export type NonRetryableFailure = keyof typeof NON_RETRYABLE_FAILURES;
export const NON_RETRYABLE_FAILURE_TYPES: string[] = Object.values(NON_RETRYABLE_FAILURES);
