export function render(results) { return { markdown: JSON.stringify(results), svg: '<svg/>', date: results.date.slice(0, 10) }; }
