/**
 * Worker capacity on AWS: one Auto Scaling group per variant, whose desired capacity the fleet
 * controller sets to the plan's worker count. The controller is the only scaler of these groups (no
 * scaling policy fights it); instances leaving a group drain first through its lifecycle hook.
 */
import { AutoScalingClient, SetDesiredCapacityCommand } from '@aws-sdk/client-auto-scaling';
import { InputError } from '../../core/errors';

export interface AutoScalingCapacityOptions {
  /** The Auto Scaling group of each variant, by name. */
  readonly groups: Readonly<Record<string, string>>;
  readonly client?: Pick<AutoScalingClient, 'send'>;
}

export class AutoScalingCapacity {
  private readonly client: Pick<AutoScalingClient, 'send'>;

  constructor(private readonly options: AutoScalingCapacityOptions) {
    this.client = options.client ?? new AutoScalingClient({});
  }

  /** Sets the variant's group to `workers` instances at once (no cooldown: the plan already damps). */
  async setWorkers(variant: string, workers: number): Promise<void> {
    const group = this.options.groups[variant];
    if (group === undefined) {
      throw new InputError(
        `no Auto Scaling group for variant ${variant}; groups: ${Object.keys(this.options.groups).join(', ')}`,
      );
    }
    await this.client.send(
      new SetDesiredCapacityCommand({
        AutoScalingGroupName: group,
        DesiredCapacity: workers,
        HonorCooldown: false,
      }),
    );
  }
}
