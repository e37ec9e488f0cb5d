export async function fanout(){return {}}
