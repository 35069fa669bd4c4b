import { ExecutionAlreadyExists, type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { StartExecution } from './app';

/**
 * Starts executions of one state machine. An execution of the same name exists already when the
 * event was delivered before: that is success (false), not an error, so the message is deleted.
 */
export function startExecutionWith(client: Pick<SFNClient, 'send'>, stateMachineArn: string): StartExecution {
  return async (name, input) => {
    try {
      await client.send(new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }));
      return true;
    } catch (error) {
      if (error instanceof ExecutionAlreadyExists || (error as { name?: string }).name === 'ExecutionAlreadyExists') return false;
      throw error;
    }
  };
}
