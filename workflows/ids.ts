/** Workflow id of the delivery of a message: derived from the message id, so it can start only once. */
export const deliverMessageWorkflowId = (messageId: string) => `deliver-${messageId}`;
