package datablock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/strata-dataspace/strata/datasource"
)

// MaxValueBytesDefault is the largest encoded value Put accepts when
// Options.MaxValueBytes is zero.
const MaxValueBytesDefault = 256 << 20

// ErrTooLarge is wrapped when a value is larger than Options.MaxValueBytes.
var ErrTooLarge = errors.New("datablock: value too large")

// Options tune a DataBlock. The zero value is ready to use.
type Options struct {
	// Clock returns the current time. Nil means time.Now.
	Clock func() time.Time
	// Compression is "zstd" (empty means zstd), "zlib" or "none".
	Compression string
	// MaxValueBytes caps the encoded size of one value. Zero means
	// MaxValueBytesDefault.
	MaxValueBytes int64
}

// DataBlock is one task manager instance's view of one generation. The
// newest generation is writable; Duplicate seals it and returns the block
// of the next one. A DataBlock is safe for concurrent use.
type DataBlock struct {
	ds          datasource.DataSource
	tm          datasource.TaskManager
	gen         int64
	clock       func() time.Time
	compression Compression
	maxValue    int64
}

func newBlock(ds datasource.DataSource, tm *datasource.TaskManager, gen int64, opts *Options) (*DataBlock, error) {
	if opts == nil {
		opts = &Options{}
	}
	c, err := ParseCompression(opts.Compression)
	if err != nil {
		return nil, err
	}
	b := &DataBlock{ds: ds, tm: *tm, gen: gen, clock: opts.Clock, compression: c, maxValue: opts.MaxValueBytes}
	if b.clock == nil {
		b.clock = time.Now
	}
	if b.maxValue <= 0 {
		b.maxValue = MaxValueBytesDefault
	}
	return b, nil
}

// Open returns the newest generation of the newest instance of the task
// manager named name, or starts a new instance at generation 1 when the
// name is unknown.
func Open(ctx context.Context, ds datasource.DataSource, name string, opts *Options) (*DataBlock, error) {
	tm, err := ds.TaskManagerGet(ctx, &datasource.TaskManagerGetParams{Name: name})
	if errors.Is(err, datasource.ErrNotFound) {
		return New(ctx, ds, name, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("open datablock of taskmanager %q: %w", name, err)
	}
	return newBlock(ds, tm, tm.LastGeneration, opts)
}

// New starts a new instance of the task manager named name, at generation 1.
func New(ctx context.Context, ds datasource.DataSource, name string, opts *Options) (*DataBlock, error) {
	if name == "" {
		return nil, fmt.Errorf("new datablock: %w: the task manager name is empty", datasource.ErrInvalid)
	}
	b, err := newBlock(ds, &datasource.TaskManager{Name: name}, 1, opts)
	if err != nil {
		return nil, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("new datablock of taskmanager %q: %w", name, err)
	}
	tm, err := ds.TaskManagerStore(ctx, &datasource.TaskManagerStoreParams{
		Name: name, TaskManagerID: id.String(), Datestamp: b.now(),
	})
	if err != nil {
		return nil, fmt.Errorf("new datablock of taskmanager %q: %w", name, err)
	}
	b.tm = *tm
	return b, nil
}

// Load returns the block of generation gen of a stored instance. A sealed
// generation can be read but not written.
func Load(ctx context.Context, ds datasource.DataSource, tm *datasource.TaskManager, gen int64, opts *Options) (*DataBlock, error) {
	if _, err := ds.GenerationGet(ctx, tm.SequenceID, gen); err != nil {
		return nil, fmt.Errorf("load datablock of taskmanager %q gen %d: %w", tm.Name, gen, err)
	}
	return newBlock(ds, tm, gen, opts)
}

// At returns the block of another generation of the same instance.
func (b *DataBlock) At(ctx context.Context, gen int64) (*DataBlock, error) {
	return Load(ctx, b.ds, &b.tm, gen, &Options{Clock: b.clock, Compression: b.compression.String(), MaxValueBytes: b.maxValue})
}

// Latest returns the block of the newest generation of the same instance.
// It differs from b when another process, or a Duplicate whose reply was
// lost, opened a generation after b's.
func (b *DataBlock) Latest(ctx context.Context) (*DataBlock, error) {
	gen, err := b.ds.GenerationLatest(ctx, b.tm.SequenceID)
	if err != nil {
		return nil, fmt.Errorf("newest generation of taskmanager %q: %w", b.tm.Name, err)
	}
	next := *b
	next.gen = gen
	next.tm.LastGeneration = gen
	return &next, nil
}

// TaskManager returns the instance the block belongs to.
func (b *DataBlock) TaskManager() datasource.TaskManager { return b.tm }

// Generation returns the block's generation number.
func (b *DataBlock) Generation() int64 { return b.gen }

// String identifies the block, e.g. `DataBlock(taskmanager="jobs" id=… generation=3)`.
func (b *DataBlock) String() string {
	return fmt.Sprintf("DataBlock(taskmanager=%q id=%s generation=%d)", b.tm.Name, b.tm.TaskManagerID, b.gen)
}

func (b *DataBlock) now() time.Time { return b.clock().UTC().Truncate(time.Microsecond) }

// where names the block in errors.
func (b *DataBlock) where(key string) string {
	return fmt.Sprintf("%q gen %d of taskmanager %q", key, b.gen, b.tm.Name)
}

// Item is one product to put, with an optional header and metadata.
type Item struct {
	// Key names the product. Required.
	Key string
	// Value is any JSON-encodable value, or []byte stored untouched.
	Value any
	// Header is optional; zero fields get defaults (see Header).
	Header *Header
	// Metadata is optional; zero fields get defaults (see Metadata).
	Metadata *Metadata
}

// Put stores one product in the block's generation, with default header
// and metadata.
func (b *DataBlock) Put(ctx context.Context, key string, value any) error {
	return b.PutItems(ctx, Item{Key: key, Value: value})
}

// PutItems stores products in one transaction: all of them or none.
func (b *DataBlock) PutItems(ctx context.Context, items ...Item) error {
	if len(items) == 0 {
		return nil
	}
	now := b.now()
	rows := make([]*datasource.Product, len(items))
	for i, it := range items {
		if it.Key == "" {
			return fmt.Errorf("put item %d gen %d of taskmanager %q: %w: empty key", i, b.gen, b.tm.Name, datasource.ErrInvalid)
		}
		row, err := b.encodeItem(now, it)
		if err != nil {
			return fmt.Errorf("put %s: %w", b.where(it.Key), err)
		}
		rows[i] = row
	}
	err := b.ds.ProductPut(ctx, &datasource.ProductPutParams{TaskManagerSeq: b.tm.SequenceID, Generation: b.gen, Products: rows})
	if err != nil {
		if len(items) == 1 {
			return fmt.Errorf("put %s: %w", b.where(items[0].Key), err)
		}
		return fmt.Errorf("put %d products gen %d of taskmanager %q: %w", len(items), b.gen, b.tm.Name, err)
	}
	return nil
}

func (b *DataBlock) encodeItem(now time.Time, it Item) (*datasource.Product, error) {
	h := it.Header.withDefaults(now, b.tm.Name)
	m, err := it.Metadata.withDefaults(now, b.gen)
	if err != nil {
		return nil, err
	}
	enc, err := encodeValue(it.Value, b.compression)
	if err != nil {
		return nil, err
	}
	// The raw size may be at most four times the limit (a limit near
	// MaxInt64, meaning none, must not overflow).
	if int64(len(enc.data)) > b.maxValue || int64(enc.rawSize)/4 > b.maxValue {
		return nil, fmt.Errorf("%w: %d bytes encoded, over the %d byte limit (raise Options.MaxValueBytes or split the product)",
			ErrTooLarge, len(enc.data), b.maxValue)
	}
	return &datasource.Product{
		Key:                 it.Key,
		Encoding:            uint8(enc.encoding),
		Compression:         uint8(enc.compression),
		Value:               enc.data,
		RawSize:             int64(enc.rawSize),
		CreateTime:          h.CreateTime,
		ExpirationTime:      h.ExpirationTime,
		ScheduledCreateTime: h.ScheduledCreateTime,
		Creator:             h.Creator,
		SchemaID:            h.SchemaID,
		State:               string(m.State),
		GenerationTime:      m.GenerationTime,
		MissedUpdateCount:   m.MissedUpdateCount,
	}, nil
}

func (b *DataBlock) row(ctx context.Context, key string, withValue bool) (*datasource.Product, error) {
	p, err := b.ds.ProductGet(ctx, &datasource.ProductGetParams{
		TaskManagerSeq: b.tm.SequenceID, Generation: b.gen, Key: key, WithoutValue: !withValue,
	})
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", b.where(key), err)
	}
	return p, nil
}

// GetBytes returns a product's encoded value, decompressed: JSON text for
// JSON values, the bytes themselves for []byte values.
func (b *DataBlock) GetBytes(ctx context.Context, key string) ([]byte, error) {
	p, err := b.row(ctx, key, true)
	if err != nil {
		return nil, err
	}
	raw, err := decompress(p.Value, Compression(p.Compression), p.RawSize)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", b.where(key), err)
	}
	return raw, nil
}

// Get decodes a product's value into dst, a non-nil pointer.
func (b *DataBlock) Get(ctx context.Context, key string, dst any) error {
	p, err := b.row(ctx, key, true)
	if err != nil {
		return err
	}
	if err := decodeProduct(p, dst); err != nil {
		return fmt.Errorf("get %s: %w", b.where(key), err)
	}
	return nil
}

// decodeProduct decompresses and decodes a stored value into dst.
func decodeProduct(p *datasource.Product, dst any) error {
	raw, err := decompress(p.Value, Compression(p.Compression), p.RawSize)
	if err != nil {
		return err
	}
	return decodeValue(raw, Encoding(p.Encoding), dst)
}

// Get decodes a product's value as a T.
func Get[T any](ctx context.Context, b *DataBlock, key string) (T, error) {
	var v T
	err := b.Get(ctx, key, &v)
	return v, err
}

// Has reports whether the generation holds key, without reading its value.
func (b *DataBlock) Has(ctx context.Context, key string) (bool, error) {
	_, err := b.row(ctx, key, false)
	if errors.Is(err, datasource.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Keys lists the generation's product keys in order, without reading values.
func (b *DataBlock) Keys(ctx context.Context) ([]string, error) {
	ps, err := b.Products(ctx)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(ps))
	for i, p := range ps {
		keys[i] = p.Key
	}
	return keys, nil
}

// Product describes a stored product without its value.
type Product struct {
	// Key names the product.
	Key string `json:"key"`
	// Header is the product's header.
	Header Header `json:"header"`
	// Metadata is the product's metadata.
	Metadata Metadata `json:"metadata"`
	// StoredSize is the size of the stored (compressed) value.
	StoredSize int64 `json:"stored_size"`
	// RawSize is the size of the encoded value before compression.
	RawSize int64 `json:"raw_size"`
	// Encoding says how the value is serialised.
	Encoding Encoding `json:"encoding"`
	// Compression says how the value is compressed.
	Compression Compression `json:"compression"`
	// LastGeneration is the first generation the version is not valid in;
	// datasource.OpenGeneration while it is current.
	LastGeneration int64 `json:"last_generation"`
}

func productOf(p *datasource.Product) *Product {
	return &Product{
		Key: p.Key,
		Header: Header{
			CreateTime:          p.CreateTime,
			ExpirationTime:      p.ExpirationTime,
			ScheduledCreateTime: p.ScheduledCreateTime,
			Creator:             p.Creator,
			SchemaID:            p.SchemaID,
		},
		Metadata: Metadata{
			State:             State(p.State),
			GenerationID:      p.FirstGeneration,
			GenerationTime:    p.GenerationTime,
			MissedUpdateCount: p.MissedUpdateCount,
		},
		StoredSize:     p.StoredSize,
		RawSize:        p.RawSize,
		Encoding:       Encoding(p.Encoding),
		Compression:    Compression(p.Compression),
		LastGeneration: p.LastGeneration,
	}
}

// Products describes every product of the generation, ordered by key,
// without reading values.
func (b *DataBlock) Products(ctx context.Context) ([]*Product, error) {
	rows, err := b.ds.ProductList(ctx, &datasource.ProductListParams{TaskManagerSeq: b.tm.SequenceID, Generation: b.gen})
	if err != nil {
		return nil, fmt.Errorf("list products gen %d of taskmanager %q: %w", b.gen, b.tm.Name, err)
	}
	out := make([]*Product, len(rows))
	for i, r := range rows {
		out[i] = productOf(r)
	}
	return out, nil
}

// Header returns a product's header.
func (b *DataBlock) Header(ctx context.Context, key string) (*Header, error) {
	p, err := b.row(ctx, key, false)
	if err != nil {
		return nil, err
	}
	return &productOf(p).Header, nil
}

// Metadata returns a product's metadata.
func (b *DataBlock) Metadata(ctx context.Context, key string) (*Metadata, error) {
	p, err := b.row(ctx, key, false)
	if err != nil {
		return nil, err
	}
	return &productOf(p).Metadata, nil
}

// IsExpired reports whether a product's expiration time has passed.
func (b *DataBlock) IsExpired(ctx context.Context, key string) (bool, error) {
	h, err := b.Header(ctx, key)
	if err != nil {
		return false, err
	}
	return !h.ExpirationTime.After(b.now()), nil
}

// MarkExpired sets a product's expiration time to now. The stored version
// may be shared with later generations that inherited it; they see the new
// expiration time too.
func (b *DataBlock) MarkExpired(ctx context.Context, key string) error {
	err := b.ds.ProductMarkExpired(ctx, &datasource.ProductMarkExpiredParams{
		TaskManagerSeq: b.tm.SequenceID, Generation: b.gen, Key: key, At: b.now(),
	})
	if err != nil {
		return fmt.Errorf("mark expired %s: %w", b.where(key), err)
	}
	return nil
}

// Duplicate seals the block's generation and returns the block of the next
// one, which starts with every product of this one. No product is copied,
// so it takes the same time whatever the block's size.
func (b *DataBlock) Duplicate(ctx context.Context) (*DataBlock, error) {
	g, err := b.ds.GenerationDuplicate(ctx, &datasource.GenerationDuplicateParams{
		TaskManagerSeq: b.tm.SequenceID, Generation: b.gen, At: b.now(),
	})
	if err != nil {
		return nil, fmt.Errorf("duplicate gen %d of taskmanager %q: %w", b.gen, b.tm.Name, err)
	}
	next := *b
	next.gen = g.Number
	next.tm.LastGeneration = g.Number
	return &next, nil
}

// Version is one stored version of a product.
type Version struct {
	Product
	// FirstGeneration is the generation the version was written in.
	FirstGeneration int64 `json:"first_generation"`
}

// History lists every stored version of key in this instance, oldest
// first. It is empty for a key never written.
func (b *DataBlock) History(ctx context.Context, key string) ([]*Version, error) {
	rows, err := b.ds.ProductHistory(ctx, &datasource.ProductHistoryParams{TaskManagerSeq: b.tm.SequenceID, Key: key})
	if err != nil {
		return nil, fmt.Errorf("history of %q in taskmanager %q: %w", key, b.tm.Name, err)
	}
	out := make([]*Version, len(rows))
	for i, r := range rows {
		out[i] = &Version{Product: *productOf(r), FirstGeneration: r.FirstGeneration}
	}
	return out, nil
}

// Snapshot is a readable, JSON-friendly form of a whole generation.
type Snapshot struct {
	// TaskManager is the instance.
	TaskManager datasource.TaskManager `json:"taskmanager"`
	// Generation is the generation number.
	Generation int64 `json:"generation"`
	// Products are the generation's products with their decoded values.
	Products []SnapshotProduct `json:"products"`
}

// SnapshotProduct is a product with its value in a Snapshot.
type SnapshotProduct struct {
	Product
	// Value is the JSON value; a []byte value appears base64-encoded.
	Value json.RawMessage `json:"value"`
}

// Snapshot reads the whole generation with decoded values.
func (b *DataBlock) Snapshot(ctx context.Context) (*Snapshot, error) {
	rows, err := b.ds.ProductList(ctx, &datasource.ProductListParams{TaskManagerSeq: b.tm.SequenceID, Generation: b.gen, WithValues: true})
	if err != nil {
		return nil, fmt.Errorf("snapshot gen %d of taskmanager %q: %w", b.gen, b.tm.Name, err)
	}
	s := &Snapshot{TaskManager: b.tm, Generation: b.gen, Products: make([]SnapshotProduct, len(rows))}
	for i, r := range rows {
		raw, err := decompress(r.Value, Compression(r.Compression), r.RawSize)
		if err != nil {
			return nil, fmt.Errorf("snapshot %s: %w", b.where(r.Key), err)
		}
		if Encoding(r.Encoding) == EncodingBytes {
			if raw, err = json.Marshal(raw); err != nil {
				return nil, err
			}
		} else if Encoding(r.Encoding) != EncodingJSON {
			return nil, fmt.Errorf("snapshot %s: %w: unknown encoding %d", b.where(r.Key), ErrCodec, r.Encoding)
		}
		s.Products[i] = SnapshotProduct{Product: *productOf(r), Value: raw}
	}
	return s, nil
}
