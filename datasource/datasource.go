package datasource

import (
	"context"
	"math"
	"time"
)

// OpenGeneration is the LastGeneration of a product version that is still
// valid in the newest generation: its range [FirstGeneration, OpenGeneration)
// has not been closed by a later Put.
const OpenGeneration int64 = math.MaxInt64

// DataSource stores task managers, their generations and the product versions
// valid in each generation. Backends store bytes; encoding and compression
// live in package datablock.
//
// Every method that writes more than one row runs in one transaction owned by
// the backend. Lookups that find nothing return an error that wraps
// ErrNotFound.
type DataSource interface {
	// Close releases the backend's connections. It is safe to call twice.
	Close() error

	// DataDeleteBefore applies retention: it deletes the generations created
	// before p.Horizon that no longer need to be kept, the product versions
	// valid only in deleted generations, and task manager instances left with
	// no generation. The newest generation of the newest instance of every
	// task manager name is always kept. Work is done in transactions of at
	// most p.BatchSize rows each.
	DataDeleteBefore(ctx context.Context, p *DataDeleteParams) (*DataDeleteResult, error)

	// GenerationDuplicate seals generation p.Generation of a task manager
	// instance and opens p.Generation+1 without copying any product row. It
	// fails with ErrSealed when p.Generation is not the newest generation,
	// so two concurrent callers never open the same number.
	GenerationDuplicate(ctx context.Context, p *GenerationDuplicateParams) (*Generation, error)

	// GenerationGet returns one generation of a task manager instance.
	GenerationGet(ctx context.Context, taskManagerSeq, generation int64) (*Generation, error)

	// GenerationLatest returns the newest generation number of a task
	// manager instance: one indexed lookup.
	GenerationLatest(ctx context.Context, taskManagerSeq int64) (int64, error)

	// GenerationList returns the generations of a task manager instance,
	// oldest first, with p.Limit (zero: all) rows after generation p.After.
	GenerationList(ctx context.Context, p *GenerationListParams) ([]*Generation, error)

	// Migrate brings the schema to the newest version. It is idempotent and
	// safe to run from several processes at once.
	Migrate(ctx context.Context) error

	// ProductExpired lists the products valid in a generation whose
	// expiration time is at or before p.At, ordered by key, without values.
	ProductExpired(ctx context.Context, p *ProductExpiredParams) ([]*Product, error)

	// ProductGet returns the version of a product valid in a generation.
	ProductGet(ctx context.Context, p *ProductGetParams) (*Product, error)

	// ProductHistory returns every stored version of a task manager
	// instance's products (of one key when p.Key is set), in insertion order.
	// An unknown task manager or key gives an empty list.
	ProductHistory(ctx context.Context, p *ProductHistoryParams) ([]*Product, error)

	// ProductList returns the products valid in a generation, ordered by key.
	ProductList(ctx context.Context, p *ProductListParams) ([]*Product, error)

	// ProductMarkExpired sets the expiration time of the product version
	// valid in a generation.
	ProductMarkExpired(ctx context.Context, p *ProductMarkExpiredParams) error

	// ProductPut writes products into the newest generation of a task
	// manager instance, atomically: all of them or none. A product inherited
	// from an earlier generation has its old version closed at this
	// generation; a product already written in this generation is replaced.
	// It fails with ErrSealed when p.Generation is not the newest generation
	// and with ErrNotFound when the task manager does not exist.
	ProductPut(ctx context.Context, p *ProductPutParams) error

	// ResetConnections closes idle connections; the next call opens fresh
	// ones. It is safe at any time.
	ResetConnections(ctx context.Context) error

	// SchemaVersion returns the newest applied migration version, or zero.
	SchemaVersion(ctx context.Context) (int, error)

	// Stats counts what is stored.
	Stats(ctx context.Context) (*Stats, error)

	// TaskManagerGet returns the task manager instance named p.Name: the one
	// with p.TaskManagerID when set, else the newest instance of that name.
	TaskManagerGet(ctx context.Context, p *TaskManagerGetParams) (*TaskManager, error)

	// TaskManagerList lists task manager instances, ordered by datestamp,
	// filtered by name and a [Start, End] datestamp window when set.
	TaskManagerList(ctx context.Context, p *TaskManagerListParams) ([]*TaskManager, error)

	// TaskManagerStore records a new task manager instance with its
	// generation 1 open, and returns it with an increasing sequence id.
	TaskManagerStore(ctx context.Context, p *TaskManagerStoreParams) (*TaskManager, error)
}

// TaskManager is one instance of a named task manager: a new instance is
// stored every time a task manager starts afresh.
type TaskManager struct {
	// SequenceID is the store-assigned, increasing id of the instance.
	SequenceID int64 `json:"sequence_id"`
	// TaskManagerID is the instance's UUID.
	TaskManagerID string `json:"taskmanager_id"`
	// Name is the task manager's name, shared by its instances.
	Name string `json:"name"`
	// Datestamp is when the instance was created.
	Datestamp time.Time `json:"datestamp"`
	// LastGeneration is the instance's newest (writable) generation.
	LastGeneration int64 `json:"last_generation"`
}

// Generation is one decision cycle of a task manager instance.
type Generation struct {
	// TaskManagerSeq is the instance's SequenceID.
	TaskManagerSeq int64 `json:"taskmanager_seq"`
	// Number counts the instance's generations from 1.
	Number int64 `json:"generation"`
	// CreatedAt is when the generation was opened.
	CreatedAt time.Time `json:"created_at"`
	// SealedAt is when the next generation was opened; zero while open.
	SealedAt time.Time `json:"sealed_at,omitzero"`
}

// Sealed reports whether the generation no longer accepts writes.
func (g *Generation) Sealed() bool { return !g.SealedAt.IsZero() }

// Product is one stored version of a data product, with its header and
// metadata. It is valid in generations [FirstGeneration, LastGeneration).
type Product struct {
	// TaskManagerSeq is the owning instance's SequenceID.
	TaskManagerSeq int64 `json:"taskmanager_seq"`
	// Key names the product inside a generation.
	Key string `json:"key"`
	// FirstGeneration is the generation the version was written in.
	FirstGeneration int64 `json:"first_generation"`
	// LastGeneration is the first generation the version is no longer
	// valid in; OpenGeneration while it is current.
	LastGeneration int64 `json:"last_generation"`

	// Encoding says how the value was serialised (set by datablock).
	Encoding uint8 `json:"encoding"`
	// Compression says how the value was compressed (set by datablock).
	Compression uint8 `json:"compression"`
	// Value is the stored (encoded, compressed) value. Listings that skip
	// values leave it nil.
	Value []byte `json:"-"`
	// StoredSize is len(Value) as stored.
	StoredSize int64 `json:"stored_size"`
	// RawSize is the size of the encoded value before compression.
	RawSize int64 `json:"raw_size"`

	// CreateTime is the header's creation time.
	CreateTime time.Time `json:"create_time"`
	// ExpirationTime is when the product may be considered stale.
	ExpirationTime time.Time `json:"expiration_time"`
	// ScheduledCreateTime is when the product was due to be created.
	ScheduledCreateTime time.Time `json:"scheduled_create_time"`
	// Creator names the module or program that made the product.
	Creator string `json:"creator"`
	// SchemaID identifies the value's schema; zero means none.
	SchemaID int64 `json:"schema_id"`

	// State is the metadata state (NEW, START_BACKUP, METADATA_UPDATE,
	// END_CYCLE).
	State string `json:"state"`
	// GenerationTime is the metadata's generation time.
	GenerationTime time.Time `json:"generation_time"`
	// MissedUpdateCount counts the cycles in which the product was due and
	// did not arrive.
	MissedUpdateCount int64 `json:"missed_update_count"`
}

// ValidIn reports whether the version is valid in generation g.
func (p *Product) ValidIn(g int64) bool { return p.FirstGeneration <= g && g < p.LastGeneration }

// Stats counts what a store holds.
type Stats struct {
	// SchemaVersion is the newest applied migration.
	SchemaVersion int `json:"schema_version" db:"schema_version"`
	// TaskManagers counts task manager instances.
	TaskManagers int64 `json:"taskmanagers" db:"taskmanagers"`
	// Generations counts stored generations.
	Generations int64 `json:"generations" db:"generations"`
	// ProductVersions counts stored product versions (rows).
	ProductVersions int64 `json:"product_versions" db:"product_versions"`
	// ValueBytes sums the stored size of every product value.
	ValueBytes int64 `json:"value_bytes" db:"value_bytes"`
}

// DataDeleteParams selects what DataDeleteBefore removes.
type DataDeleteParams struct {
	// Horizon: generations created before it may be deleted. Required.
	Horizon time.Time
	// BatchSize bounds the rows deleted per transaction. Zero means
	// DeleteBatchSizeDefault.
	BatchSize int
	// DryRun counts what would be deleted without deleting it.
	DryRun bool
}

// DeleteBatchSizeDefault is the rows per delete transaction when
// DataDeleteParams.BatchSize is zero.
const DeleteBatchSizeDefault = 5000

// DataDeleteResult reports what DataDeleteBefore removed (or, in a dry run,
// would remove).
type DataDeleteResult struct {
	// ProductVersions is the number of product rows deleted.
	ProductVersions int64 `json:"product_versions"`
	// ProductBytes is the stored size of the deleted product values.
	ProductBytes int64 `json:"product_bytes"`
	// Generations is the number of generation rows deleted.
	Generations int64 `json:"generations"`
	// TaskManagers is the number of task manager instances deleted.
	TaskManagers int64 `json:"taskmanagers"`
	// Batches is the number of delete transactions run.
	Batches int `json:"batches"`
	// MaxBatch is the longest time one delete transaction took.
	MaxBatch time.Duration `json:"max_batch_ns"`
}

// GenerationDuplicateParams names the generation to seal.
type GenerationDuplicateParams struct {
	// TaskManagerSeq is the instance's SequenceID.
	TaskManagerSeq int64
	// Generation is the generation to seal; it must be the newest.
	Generation int64
	// At is the time recorded as the seal and the new generation's start.
	At time.Time
}

// GenerationListParams pages through an instance's generations.
type GenerationListParams struct {
	// TaskManagerSeq is the instance's SequenceID.
	TaskManagerSeq int64
	// After skips generations numbered After or lower.
	After int64
	// Limit caps the rows returned; zero means all.
	Limit int
}

// ProductExpiredParams selects expired products.
type ProductExpiredParams struct {
	// TaskManagerSeq is the instance's SequenceID.
	TaskManagerSeq int64
	// Generation is the generation to look in.
	Generation int64
	// At is the time to compare expiration times against.
	At time.Time
}

// ProductGetParams names one product in one generation.
type ProductGetParams struct {
	// TaskManagerSeq is the instance's SequenceID.
	TaskManagerSeq int64
	// Generation is the generation the product must be valid in.
	Generation int64
	// Key is the product key.
	Key string
	// WithoutValue skips reading the value (for header and metadata).
	WithoutValue bool
}

// ProductHistoryParams selects stored versions.
type ProductHistoryParams struct {
	// TaskManagerSeq is the instance's SequenceID.
	TaskManagerSeq int64
	// Key limits the history to one product when set.
	Key string
	// WithValues reads values too.
	WithValues bool
}

// ProductListParams selects the products of one generation.
type ProductListParams struct {
	// TaskManagerSeq is the instance's SequenceID.
	TaskManagerSeq int64
	// Generation is the generation the products must be valid in.
	Generation int64
	// WithValues reads values too; otherwise Value is nil.
	WithValues bool
}

// ProductMarkExpiredParams names the product to expire.
type ProductMarkExpiredParams struct {
	// TaskManagerSeq is the instance's SequenceID.
	TaskManagerSeq int64
	// Generation is the generation the product is valid in.
	Generation int64
	// Key is the product key.
	Key string
	// At becomes the product's expiration time.
	At time.Time
}

// ProductPutParams is one atomic write of products into a generation.
type ProductPutParams struct {
	// TaskManagerSeq is the instance's SequenceID.
	TaskManagerSeq int64
	// Generation must be the instance's newest generation.
	Generation int64
	// Products are written together; their FirstGeneration and
	// LastGeneration are set by the backend. A key given twice keeps the
	// last one.
	Products []*Product
}

// TaskManagerGetParams names a task manager instance.
type TaskManagerGetParams struct {
	// Name is the task manager's name. Required.
	Name string
	// TaskManagerID selects one instance; empty means the newest.
	TaskManagerID string
}

// TaskManagerListParams filters task manager instances.
type TaskManagerListParams struct {
	// Name limits the list to one name when set.
	Name string
	// Start, when set, drops instances with an earlier datestamp.
	Start time.Time
	// End, when set, drops instances with a later datestamp.
	End time.Time
}

// TaskManagerStoreParams describes a new task manager instance.
type TaskManagerStoreParams struct {
	// Name is the task manager's name. Required.
	Name string
	// TaskManagerID is the instance's UUID. Required.
	TaskManagerID string
	// Datestamp is the instance's creation time. Required.
	Datestamp time.Time
}
