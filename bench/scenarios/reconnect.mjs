export async function reconnectStorm(){return {}}
