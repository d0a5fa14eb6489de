import { describeFixtureSlicing } from './fixture-slicing';

describeFixtureSlicing('mnist-resnet');
