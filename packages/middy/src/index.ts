// The middleware arrives with the Middy integration; see the package README.
export {}
