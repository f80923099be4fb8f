// The stores arrive with the storage backends; see the package README.
export {}
