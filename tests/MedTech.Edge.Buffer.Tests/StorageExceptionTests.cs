using System.Text;
using LiteDB;

namespace MedTech.Edge.Buffer.Tests;

/// <summary>LiteDB's exceptions do not leave the buffer: a consumer sees <see cref="BufferStorageException"/>, an <see cref="IOException"/>.</summary>
public sealed class StorageExceptionTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-storage-error-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void GivenAFileWhoseInboxIdsCollide_WhenAMessageIsAppended_ThenTheErrorIsTheBuffersOwnNamesNoStoredValueAndNothingIsStored()
    {
        var path = Path.Combine(folder, "gateway.db");
        var options = new BufferOptions { Path = path };
        using (var store = new GatewayStore(options))
        {
            store.Append([Message("secret-patient-value")]);
        }

        using (var damaged = new LiteDatabase(new ConnectionString { Filename = path, Connection = ConnectionType.Direct }))
        {
            // A commit stored again under the next id, its fields unchanged: the next append's id is taken (LiteDB: duplicate key).
            var inbox = damaged.GetCollection("inbox", BsonAutoId.Int64);
            var copy = inbox.FindById(1L);
            copy["_id"] = 2L;
            inbox.Insert(copy);
        }

        using var reopened = new GatewayStore(options);
        var before = reopened.Stats().Inbox;

        var error = Assert.Throws<BufferStorageException>(() => reopened.Append([Message("another-secret")]));

        Assert.IsAssignableFrom<IOException>(error);
        Assert.IsType<LiteException>(error.InnerException);
        Assert.DoesNotContain("secret", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("'2'", error.Message, StringComparison.Ordinal);
        Assert.Equal(before, reopened.Stats().Inbox);
        Assert.DoesNotContain(reopened.ReadInbox(10), m => Encoding.UTF8.GetString(m.Payload.Span) == "another-secret");
    }

    private static InboxMessage Message(string payload) =>
        new("monitor-1", "devices/monitor-1/vitals", Encoding.UTF8.GetBytes(payload), DateTime.UtcNow, new Dictionary<string, string>());
}
