// Every entry point of every installed @fleet-breaker package, as `import`/`require` specifiers,
// read from the packages' own `exports` maps.
const fs = require('node:fs')
const path = require('node:path')

function entryPoints() {
  const scope = path.join(__dirname, 'node_modules/@fleet-breaker')
  return fs.readdirSync(scope).flatMap((name) => {
    const manifest = JSON.parse(fs.readFileSync(path.join(scope, name, 'package.json'), 'utf8'))
    return Object.keys(manifest.exports ?? {})
      .filter((subpath) => subpath !== './package.json')
      .map((subpath) => `${manifest.name}${subpath.slice(1)}`)
  })
}

module.exports = { entryPoints }
