// One wall clock, in milliseconds with sub-millisecond precision, shared by
// every process of the bench: the publisher stamps scheduled send times with it
// and the subscribers read it when a socket read returns.
export const now = () => performance.timeOrigin + performance.now();

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
