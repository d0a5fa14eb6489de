import { describeFixtureSlicing } from './fixture-slicing';

describeFixtureSlicing('spam-bert');
