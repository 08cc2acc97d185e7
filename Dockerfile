FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /npsgate ./cmd/npsgate

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /npsgate /npsgate
ENV NPSGATE_DATA_DIR=/tmp/npsgate
EXPOSE 8080 9091
ENTRYPOINT ["/npsgate"]
CMD ["serve"]
